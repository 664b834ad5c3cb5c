// The callers of a stampede: many calls started together, each on a key of a few, and each
// answer checked to be the value of the key it asked for (values carry their key). Scenario 8's
// stampedes, in one process and across three, share it.

export interface Answered {
  /** answers that were not the asked key's value */
  readonly wrong: number
  /** the first few rejections */
  readonly errors: string[]
}

/** Starts `callers` calls of `ask` at once, caller j on `keyOf(j)`; resolves when all have settled. */
export async function callTogether(callers: number, keyOf: (j: number) => string, ask: (key: string) => Promise<unknown>): Promise<Answered> {
  let wrong = 0
  const errors: string[] = []
  await Promise.all(
    Array.from({ length: callers }, (_, j) => {
      const key = keyOf(j)
      return ask(key).then(
        (value) => {
          if ((value as { key?: string } | undefined)?.key !== key) wrong++
        },
        (error: unknown) => {
          if (errors.length < 3) errors.push(String(error))
        },
      )
    }),
  )
  return { wrong, errors }
}
