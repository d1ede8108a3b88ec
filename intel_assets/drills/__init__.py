"""End-to-end rehearsals that wire the devtools stand-ins, the Torghut consumer and execution
together (parity week, canary route, rollback rehearsal); only cli/ and tests import them."""
