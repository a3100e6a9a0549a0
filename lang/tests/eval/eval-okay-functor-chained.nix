let adder = n: { inherit n; __functor = self: x: adder (self.n + x); }; in ((adder 1) 2 3 4).n
