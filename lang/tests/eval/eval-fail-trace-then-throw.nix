builtins.trace "this trace goes to stderr first" (throw "then the error")
