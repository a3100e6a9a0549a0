# trace prints to stderr (ignored here) and returns its second argument.
builtins.trace "message on stderr" (builtins.trace { a = 1; } "returned")
