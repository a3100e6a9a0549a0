# corpus: json
[ (builtins.match "a" "a") (builtins.match "a" "ab") (builtins.match "(a)(b)" "ab") (builtins.match "a(b)?" "a") (builtins.match ".*" "") (builtins.match "x" "y") ]
