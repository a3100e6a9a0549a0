[ (builtins.isFunction (x: x)) (builtins.isFunction ({ a }: a)) (builtins.isFunction builtins.head) (builtins.isFunction 1) (builtins.isFunction ((a: b: a) 1)) ]
