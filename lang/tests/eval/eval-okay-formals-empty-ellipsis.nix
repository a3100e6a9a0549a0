let f = { ... }: "called"; in [ (f { }) (f { x = 1; }) ]
