# == is non-associative.
1 == 1 == true
