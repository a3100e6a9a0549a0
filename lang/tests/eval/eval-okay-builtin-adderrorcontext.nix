# addErrorContext returns its second argument unchanged when there is no error.
[ (builtins.addErrorContext "while doing something" 42) (builtins.addErrorContext "ctx" { a = 1; }).a ]
