# `?` on something that is not an attrset is false, not an error.
[ (1 ? a) ("s" ? a) ([ ] ? a) (null ? a) ]
