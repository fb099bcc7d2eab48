//! `*` and `?` patterns for `mget` and `mput`, matched against names as
//! bytes. The matcher is iterative with one backtrack point, so no pattern
//! costs more than the product of the two lengths.

/// Whether `name` matches `pattern` (`*` any run, `?` any one byte).
pub fn matches(pattern: &[u8], name: &[u8]) -> bool {
    let (mut p, mut n) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while n < name.len() {
        match pattern.get(p) {
            Some(b'*') => {
                star = Some((p, n));
                p += 1;
            }
            Some(&c) if c == b'?' || c == name[n] => {
                p += 1;
                n += 1;
            }
            _ => match star {
                Some((sp, sn)) => {
                    p = sp + 1;
                    n = sn + 1;
                    star = Some((sp, sn + 1));
                }
                None => return false,
            },
        }
    }
    pattern[p.min(pattern.len())..].iter().all(|&c| c == b'*')
}

/// Whether `word` is a pattern rather than a plain name.
pub fn is_pattern(word: &[u8]) -> bool {
    word.iter().any(|&b| b == b'*' || b == b'?')
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn patterns() {
        assert!(matches(b"*.txt", b"a.txt"));
        assert!(!matches(b"*.txt", b"a.txt.gz"));
        assert!(matches(b"a?c*", b"abcdef"));
        assert!(matches(b"*", b""));
        assert!(!matches(b"?", b""));
        assert!(matches(b"**a**b", b"xxaxxb"));
        assert!(!matches(b"a*b", b"acd"));
        let long = vec![b'a'; 5000];
        assert!(!matches(b"*a*a*a*a*b", &long));
    }
}
