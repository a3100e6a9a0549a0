builtins.foldl' (acc: x: acc // { ${x} = builtins.stringLength x; }) { } [ "one" "three" "five" ]
