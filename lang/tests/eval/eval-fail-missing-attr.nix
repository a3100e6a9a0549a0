{ foo = 1; bar = 2; }.baz
