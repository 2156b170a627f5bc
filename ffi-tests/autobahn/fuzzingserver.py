"""Runs `wstest -m fuzzingserver -s SPEC` (Python 2.7) bound to 127.0.0.1 only and without its
web UI (webport 0): wstest itself listens on every interface, so its listenWS is wrapped to pass
the loopback interface."""
import sys

from autobahntestsuite import fuzzing, wstest

_listen = fuzzing.listenWS


def listen_loopback(factory, context_factory=None, backlog=50, interface=''):
    return _listen(factory, context_factory, backlog, interface='127.0.0.1')


fuzzing.listenWS = listen_loopback
sys.argv = ['wstest', '-m', 'fuzzingserver', '--webport', '0', '-s', sys.argv[1]]
sys.exit(wstest.run())
