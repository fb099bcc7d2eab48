#!/usr/bin/env python3
"""The seed's NNTP example (../shared/seeds/000_0ceee6e7c3ad7b48.txt, "2.5 客户端程序NNTP示例":
main() and displayFirst20), ported minimally from Python 2's to Python 3's nntplib.

usage: seed_latest.py HOST PORT GROUP [COUNT]      (COUNT defaults to 20, as in the seed)

Its logic and its print statements are kept as they are (the triple-quoted
header block keeps its 4-space indentation and its trailing "    " line).
What changed, and why:

* HOST, PORT and GRNM (and the optional COUNT, which replaces the literal 20
  in "First (<=20)" and "count == 20") come from argv; NNTP(HOST) became
  NNTP(HOST, PORT).  USER/PASS stay unused, as in the seed.
* Python 3's nntplib: group() returns numbers as ints ('%s' formats them the
  same); body() returns (resp, ArticleInfo(number, message_id, lines)), and its
  lines are bytes.  They are decoded as UTF-8 with errors='replace' (invalid
  bytes become U+FFFD, which is what a Rust client gets from
  String::from_utf8_lossy; 'surrogateescape' would make print() fail on a UTF-8
  stdout).  xhdr() values are str already (nntplib decodes them as UTF-8 with
  surrogateescape); they are printed raw, RFC 2047 encoded words included.
* Three Python 2 slips that would raise in Python 3 and hide the intended
  message: nntplib.NNTPermanentError -> NNTPPermanentError (the misspelt name
  raises AttributeError as soon as any non-gaierror exception reaches it);
  eval(str(e))[1] -> e.args[1] (str() of a Python 3 gaierror is not a tuple);
  str(e) -> str(ee) inside the "except ... as ee" blocks (e is unbound there).
  The second "except nntplib.NNTPTemporaryError" stays, unreachable as in the seed.
"""
import nntplib
import socket
import sys

HOST = sys.argv[1]
PORT = int(sys.argv[2])
GRNM = sys.argv[3]
COUNT = int(sys.argv[4]) if len(sys.argv) > 4 else 20
USER = 'wesley'
PASS = 'youllNeverGuess'


def main():
    try:
        n = nntplib.NNTP(HOST, PORT)
        #, user = USER, password = PASS)
    except socket.gaierror as e:
        print('ERROR: cannot reach host %s' % HOST)
        print('%s' % e.args[1])
        return
    except nntplib.NNTPPermanentError as e:
        print('ERROR:access denied on %s' % HOST)
        print('%s' % str(e))
        return
    print('*** Connected to host %s' % HOST)

    try:
        rsp, ct, fst, lst, grp = n.group(GRNM)
    except nntplib.NNTPTemporaryError as ee:
        print('ERROR: cannot load group %s' % GRNM)
        print('%s' % str(ee))
        print('Server may require authentication')
        print('Uncomment/edit login line above')
        n.quit()
        return
    except nntplib.NNTPTemporaryError as ee:
        print('ERROR: group %s unavailable' % GRNM)
        print('%s' % str(ee))
        n.quit()
        return
    print('*** Found newsgroup %s' % GRNM)

    rng = '%s-%s' % (lst, lst)
    rsp, frm = n.xhdr('from', rng)
    rsp, sub = n.xhdr('subject',rng)
    rsp, dat = n.xhdr('date', rng)
    print('''*** Found last article (#%s)
    From:%s
    Subject:%s
    Date:%s
    ''' % (lst, frm[0][1], sub[0][1], dat[0][1]))

    rsp, (anum, mid, data) = n.body(lst)
    data = [line.decode('utf-8', 'replace') for line in data]
    displayFirst20(data)
    n.quit()

def displayFirst20(data):
    print('*** First (<=%d) meaningful lines:\n' % COUNT)
    count = 0
    lines = (line.rstrip() for line in data)
    lastBlank = True
    for line in lines:
        if line:
            lower = line.lower()
            if(lower.startswith('>') and not \
            lower.startswith('>>>')) or \
            lower.startswith('|') or \
            lower.startswith('in article') or \
            lower.endswith('writes:') or \
            lower.endswith('wrote:'):
                continue
        if not lastBlank or (lastBlank and line):
            print('%s' % line)
            if line:
                count += 1
                lastBlank = False
            else:
                lastBlank = True
        if count == COUNT:
            break

if __name__ == '__main__':
    main()
