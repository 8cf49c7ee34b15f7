namespace Vla.Data.Synthetic;

/// <summary>
/// A scripted pick: move above the named cube while turning to its yaw, descend, close, lift. Each call
/// returns the action for the current state; actions are deltas of the pose plus a gripper command
/// (1 open, 0 closed), so state[t + 1] = state[t] + action[t] for the pose.
/// </summary>
public static class ScriptedExpert
{
    /// <summary>Largest horizontal move per step, metres.</summary>
    public const float MaxStep = 0.025f;
    /// <summary>Largest vertical move per step, metres.</summary>
    public const float MaxLift = 0.03f;
    /// <summary>Height while travelling.</summary>
    public const float TravelHeight = 0.15f;
    /// <summary>Height at which the gripper closes.</summary>
    public const float GraspHeight = 0.02f;

    /// <summary>The action [dx, dy, dz, droll, dpitch, dyaw, gripper_cmd] for <paramref name="state"/> going for <paramref name="target"/>.</summary>
    public static float[] Act(float[] state, Cube target, bool holding)
    {
        var action = new float[7];
        float dx = target.X - state[0], dy = target.Y - state[1];
        float distance = MathF.Sqrt(dx * dx + dy * dy);
        if (holding)
        {
            action[2] = Math.Min(MaxLift, TravelHeight - state[2]);
            action[6] = 0f;
            return action;
        }
        if (distance > 0.005f)
        {
            float step = Math.Min(MaxStep, distance);
            action[0] = dx / distance * step;
            action[1] = dy / distance * step;
            action[2] = Math.Clamp(TravelHeight - state[2], -MaxLift, MaxLift);
        }
        else if (state[2] > GraspHeight + 1e-4f)
        {
            action[2] = -Math.Min(MaxLift, state[2] - GraspHeight);
        }
        action[5] = Math.Clamp(target.Yaw - state[5], -0.1f, 0.1f);
        // Close once down; open otherwise.
        action[6] = distance <= 0.005f && state[2] <= GraspHeight + 1e-4f ? 0f : 1f;
        return action;
    }
}
