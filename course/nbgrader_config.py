# nbgrader settings for a Circuit Lab course, the same settings `circuitlab release` writes into a new course.
# Edit freely: `circuitlab release` keeps an existing file. Why each setting: docs/instructors.md.
c = get_config()  # noqa: F821 (nbgrader provides get_config)

c.CourseDirectory.course_id = "circuitlab"

# Seconds per cell. Model chapters load checkpoints and train for minutes; on timeout the
# kernel is interrupted and grading goes on with the next cell.
c.Execute.timeout = 900
c.Execute.interrupt_on_timeout = True

# Grade every submission in the same kernel, whatever kernel name the learner's notebook names.
c.Execute.kernel_name = "python3"

# A learner who deletes a test cell gets it back (and graded), not a free pass.
c.OverwriteCells.add_missing_cells = True

# Every Circuit Lab test cell is visible (the checks live in the installed package), and a
# feedback file must never show hidden tests: `circuitlab autograde` strips any that appear.
