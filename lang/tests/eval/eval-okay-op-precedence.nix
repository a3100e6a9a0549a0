# !a && b || c -> d, and `->` is right-associative.
[ (!false && false || true) (false || true && false) (true -> false || true) (false -> false -> false) (1 + 2 == 3 && 2 * 2 == 4) ]
