assert 1; "unreachable"
