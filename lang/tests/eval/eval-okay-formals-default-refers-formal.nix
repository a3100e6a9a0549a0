# Defaults can refer to other formals, in either order.
let f = { a ? b * 2, b ? 5, c ? a + b }: [ a b c ]; in
[ (f { }) (f { b = 1; }) (f { a = 0; }) (f { c = 100; }) ]
