# Where Nix's lexer and parser decide in ways one might not guess: longest-match tokens,
# operator precedences, string escapes and indented-string indentation.
let
  x = "X";
  or = v: "or:${toString v}";
  f = a: b: [ a b ];
in
{
  # A slash between path characters makes a path; `x:y` is a URI; `-` and `'` are in names.
  pathDigits = builtins.typeOf 2/3;
  pathDotted = builtins.baseNameOf x.y/z;
  division = 6 / 3;
  uri = x:y;
  nameWithDash = let a-b = 1; in a-b;
  nameWithQuote = let a' = 2; a'' = 3; in a' + a'';
  keywordPrefix = let iffy = 4; inherited = 5; in iffy + inherited;
  floats = [ 1. .5 0.25 1.5e2 1.0E-1 ];
  intThenName = let e3 = 7; g = n: n * 2; in g 1 + e3;
  # Operators.
  notBindsLoose = !false && true;
  notTakesSum = let a = 1; in !(a + 1 == 2) == false;
  negTight = -2 * 3 + 1;
  minusNotArg = let g = 5; in g -1;
  concatRight = [ 1 ] ++ [ 2 ] ++ [ 3 ];
  updateRight = { a = 1; } // { a = 2; b = 1; } // { b = 3; };
  implication = [ (true -> false) (false -> false) (true -> true -> false) ];
  hasAttrThenConcat = [ 1 ] ++ [ ({ a.b = 1; } ? a.b) ];
  hasAttrDynamic = { a = 1; } ? ${"a"};
  selectDefault = { a = { }; }.a.b or "default";
  selectOrCall = f or 1;
  orAsName = { or = 8; }.or;
  compare = [ (1 < 2 == true) (2 >= 2) (3 != 4) ];
  # Strings.
  escapes = "a\nb\t\"\\ \$ \q";
  dollars = "$a $${b} ${x} $$${x}";
  crlf = "a\r\nb\rc";
  nested = "x${"y${x}"}";
  indented = ''
    a
      b
    c
  '';
  indentedBlankLines = ''
    a

      b
     '';
  indentedEscapes = ''a''$b''\nc'''d${x}e''\tf'';
  indentedDollar = ''$${x} $x $'';
  indentedQuote = ''a'b '$ '';
  indentedInterpolationFirst = ''
    ${x}
      y
  '';
  indentedEmpty = '''';
  # Comments.
  comments = 1 /* inline */ + # to the end of the line
    2;
  # Paths with interpolation.
  interpolatedPath = builtins.baseNameOf ./a/${x}/b.nix;
  interpolatedSuffix = builtins.baseNameOf ./a${x}.nix;
  listOfPaths = map builtins.baseNameOf [ ./a ./b ];
  # Functions and sets.
  patternBound = ({ a, b ? a + 1, ... }@args: [ a b (builtins.attrNames args) ]) { a = 1; c = 2; };
  boundFirst = (args @ { a }: args.a) { a = 9; };
  emptyPattern = ({ }: 10) { };
  legacyLet = let { y = 11; body = y; };
  recSet = rec { a = 1; b.c = a + 1; }.b.c;
  dottedMerge = { a.b = 1; a.c = 2; a = { d = 3; }; };
  inheritFrom = let s = { p = 1; q = 2; }; in { inherit (s) p q; inherit x; };
  quotedNames = { "a b" = 1; ${"c" + "d"} = 2; "${x}" = 3; };
  curPos = builtins.typeOf __curPos;
}
