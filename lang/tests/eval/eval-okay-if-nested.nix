let classify = n: if n < 0 then "negative" else if n == 0 then "zero" else if n < 10 then "small" else "big"; in
map classify [ (-5) 0 3 42 ]
