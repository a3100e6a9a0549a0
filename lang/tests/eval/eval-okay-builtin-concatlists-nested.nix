# Only one level is flattened.
[ (builtins.concatLists [ [ [ 1 ] ] [ [ 2 [ 3 ] ] ] ]) (builtins.length (builtins.concatLists (builtins.genList (i: builtins.genList (j: j) i) 5))) ]
