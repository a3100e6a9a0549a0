# Extra attributes are kept; the first item with a given key wins.
builtins.genericClosure {
  startSet = [ { key = "x"; tag = "start"; } ];
  operator = item: [ { key = "x"; tag = "dup"; } { key = "y"; tag = "from-${item.tag}"; } ];
}
