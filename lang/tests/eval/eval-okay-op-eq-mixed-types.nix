[ (1 == "1") (null == null) (null == false) ("" == null) ([ ] == { }) (true == true) (1 == true) ]
