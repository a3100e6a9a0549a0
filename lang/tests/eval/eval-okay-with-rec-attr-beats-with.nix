with { x = "with"; };
rec { x = "rec"; y = x; }.y
