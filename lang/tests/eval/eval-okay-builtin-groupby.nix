# corpus: json
builtins.groupBy (s: builtins.substring 0 1 s) [ "apple" "avocado" "banana" "blueberry" "cherry" ]
