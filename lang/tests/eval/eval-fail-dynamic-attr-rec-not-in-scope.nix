# A computed name in a rec set is not a variable of the set's scope.
rec { ${"a" + ""} = 1; b = a; }
