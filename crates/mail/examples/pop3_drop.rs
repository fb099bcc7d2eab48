//! Marks a message deleted over POP3 and then drops the connection
//! without QUIT: the tests use it to show that the deletion does not
//! happen (RFC 1939 §6: only QUIT enters the UPDATE state).
//!
//!     pop3_drop HOST PORT USER PASSWORD N

use mail::{Options, Pop3Client};

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [host, port, user, password, n] = args.as_slice() else {
        return Err("usage: pop3_drop HOST PORT USER PASSWORD N".into());
    };
    let mut client = Pop3Client::connect(host, port.parse()?, Options::default()).await?;
    client.login(user, password).await?;
    client.dele(n.parse()?).await?;
    drop(client);
    println!("marked {n} deleted and dropped the connection");
    Ok(())
}
