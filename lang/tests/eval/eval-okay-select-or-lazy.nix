# The default is not evaluated when the attribute exists.
{ a = 1; }.a or (throw "unused")
