# corpus: json
[ (builtins.concatStringsSep ", " [ "a" "b" "c" ]) (builtins.concatStringsSep "-" [ ]) (builtins.concatStringsSep "-" [ "only" ]) (builtins.concatStringsSep "" [ "x" "y" ]) (builtins.concatStringsSep "/" [ "" "" ]) ]
