# Variables are resolved statically: an unbound name is an error even in a
# branch that is never taken.
if true then 1 else notDefinedAnywhere
