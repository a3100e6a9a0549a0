builtins.sort builtins.lessThan [ "banana" "Apple" "cherry" "apple" "" "10" "9" ]
