-- dim_staff: every member of staff with the name and location of their department.
-- Grain: one row per staff_id (its latest version). Rebuilt whole each batch, so a department
--   rename or move refreshes every member of staff in it.
-- Sources: current_staff joined to current_department on department_id.
-- location stays NULL when the department has none; a LEFT JOIN keeps a member of staff whose
-- department is missing visible (department_name NULL fails the warehouse load loudly) instead of
-- dropping them silently.
SELECT
  staff.staff_id,
  staff.first_name,
  staff.last_name,
  department.department_name,
  department.location,
  staff.email_address
FROM current_staff AS staff
LEFT JOIN current_department AS department
  ON department.department_id = staff.department_id
