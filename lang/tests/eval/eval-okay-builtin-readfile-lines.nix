let lines = builtins.filter builtins.isString (builtins.split "\n" (builtins.readFile ./data/lines.txt)); in
[ (builtins.length lines) lines ]
