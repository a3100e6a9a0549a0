# The same (shared) attrset/list value printed twice shows «repeated».
let s = { a = 1; }; l = [ 1 2 ]; in
{ one = s; two = s; three = [ s s ]; l1 = l; l2 = l; }
