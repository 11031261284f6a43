"""The label review: reviewers' decisions on faces (keep, relabel, not a face, ambiguous) kept in
an SQLite database (:mod:`.store`), read and written as CSV (:mod:`.files`), the reviewers'
agreement (:mod:`.agreement`) and the metrics with the review applied (:mod:`.metrics`)."""
