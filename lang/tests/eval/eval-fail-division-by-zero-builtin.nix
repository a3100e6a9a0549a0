builtins.div 10 (5 - 5)
