# foldl' is a left fold: ((("" + a) + b) + c)
builtins.foldl' (acc: x: "(${acc} ${x})") "z" [ "a" "b" "c" ]
