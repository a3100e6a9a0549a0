# corpus: json
[ (builtins.isBool true) (builtins.isBool false) (builtins.isBool null) (builtins.isBool "true") (builtins.isBool 0) (builtins.isNull null) (builtins.isNull false) (builtins.isNull { }) (isNull null) ]
