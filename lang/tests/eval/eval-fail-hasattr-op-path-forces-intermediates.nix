# A set on the way of a `?` path is forced, so its error is raised.
let s = { a = throw "the intermediate set is forced"; }; in s ? a.b
