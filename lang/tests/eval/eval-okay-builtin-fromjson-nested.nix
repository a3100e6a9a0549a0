let v = builtins.fromJSON ''[ {"k": [ [ [ 1 ] ] ]}, {"k": {"k": {"k": "deep"}}} ]''; in
[ (builtins.elemAt v 0) (builtins.elemAt v 1).k.k.k ]
