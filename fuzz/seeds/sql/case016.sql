-- just a comment
SELECT 1; /* trailing */