[ (if true then "yes" else "no") (if 1 > 2 then "yes" else "no") (if null == null then 1 else throw "x") ]
