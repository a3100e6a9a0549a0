[ (builtins.concatMap (x: [ x x ]) [ 1 2 3 ]) (builtins.concatMap (x: [ ]) [ 1 2 ]) (builtins.concatMap (x: if x > 1 then [ x ] else [ ]) [ 1 2 3 ]) ]
