# Both lists keep the original order.
builtins.partition (x: builtins.stringLength x > 1) [ "aa" "b" "cc" "d" "ee" "" ]
