# An attrset with __functor can be called like a function.
let counter = { n = 10; __functor = self: x: self.n + x; }; in [ (counter 5) (counter.__functor counter 1) ]
