# --strict forces the whole result, including a throw deep inside.
[ 1 { a = [ 2 (throw "found while printing") ]; } ]
