let s = { foo = 1; "bar baz" = 2; }; n = "foo"; in
[ s.${n} s."bar baz" s.${"bar" + " baz"} s."${n}" ]
