"not a function" "arg"
