-- dim_design: every tote bag design.
-- Grain: one row per design_id (its latest version). Rebuilt whole each batch.
-- Sources: current_design.
SELECT
  design_id,
  design_name,
  file_location,
  file_name
FROM current_design
