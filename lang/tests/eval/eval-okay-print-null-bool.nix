[ null true false builtins.null builtins.true builtins.false ]
