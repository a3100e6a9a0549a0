# __curPos gives the position of its own occurrence; the file name is absolute.
let p = __curPos; in [ p.line p.column (baseNameOf p.file) ]
